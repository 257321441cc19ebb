// An invoice as a PDF (pdfkit): the platform's name, the domain's billing details, the invoice's number,
// period and dates, its lines, totals and status. It is rendered from the stored invoice alone, in the
// domain's own read, with the standard Helvetica font (Latin-1: what billing details may hold), and with
// the invoice's close as its creation date, so the same invoice renders to the same bytes.
import PDFDocument from 'pdfkit';
import type { BillingDetailsView } from './details.js';
import { periodBounds } from './periods.js';
import type { InvoiceWithLines } from './service.js';

/** How many minor units make a major one in `currency` (2 for EUR, 0 for JPY). */
function minorDigits(currency: string): number {
  try {
    return (
      new Intl.NumberFormat('en', { style: 'currency', currency }).resolvedOptions().maximumFractionDigits ??
      2
    );
  } catch {
    return 2;
  }
}

/** An integer of minor units as a decimal amount, with no floating point: 12345 → `123.45`. */
export function formatMoney(minor: number, currency: string): string {
  const digits = minorDigits(currency);
  const text = BigInt(minor)
    .toString()
    .padStart(digits + 1, '0');
  const major = text.slice(0, text.length - digits).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return digits === 0 ? `${major} ${currency}` : `${major}.${text.slice(-digits)} ${currency}`;
}

const integer = (n: number) =>
  BigInt(n)
    .toString()
    .replace(/\B(?=(\d{3})+(?!\d))/g, ',');
const day = (iso: string) => iso.slice(0, 10);

/** The invoice as a PDF document's bytes. */
export function renderInvoicePdf(
  platformName: string,
  invoice: InvoiceWithLines,
  details: BillingDetailsView | null,
): Promise<Buffer> {
  const closedAt = new Date(invoice.closedAt);
  const doc = new PDFDocument({
    size: 'A4',
    margin: 50,
    info: {
      Title: `Invoice ${invoice.number} (${invoice.period})`,
      Author: platformName,
      Creator: platformName,
      Producer: 'Bulkhead',
      CreationDate: closedAt,
    },
  });
  const chunks: Buffer[] = [];
  const done = new Promise<Buffer>((resolve, reject) => {
    doc.on('data', (chunk: Buffer) => chunks.push(chunk));
    doc.on('end', () => resolve(Buffer.concat(chunks)));
    doc.on('error', reject);
  });
  const left = 50;
  const width = doc.page.width - 100;

  doc.font('Helvetica-Bold').fontSize(18).text(platformName, left, 50, { width });
  doc.font('Helvetica').fontSize(10).fillColor('#555555').text('Invoice', { width });
  doc.fillColor('#000000').moveDown(1.5);

  const top = doc.y;
  doc.font('Helvetica-Bold').fontSize(10).text('Bill to', left, top);
  doc.font('Helvetica');
  if (details === null) {
    doc.text(`Domain ${invoice.domainId}`);
    doc.text('(no billing details set)');
  } else {
    doc.text(details.name);
    for (const line of details.addressLines) doc.text(line);
    doc.text(`${details.postalCode} ${details.city}`);
    doc.text(details.country);
    doc.text(details.email);
    if (details.taxId !== null) doc.text(`Tax id: ${details.taxId}`);
  }
  const afterAddress = doc.y;

  const { start, end } = periodBounds(invoice.period);
  const lastDay = new Date(end.getTime() - 86_400_000);
  const facts: [string, string][] = [
    ['Invoice number', String(invoice.number)],
    ['Invoice id', invoice.id],
    ['Period', `${invoice.period} (${day(start.toISOString())} to ${day(lastDay.toISOString())})`],
    ['Issue date', day(invoice.closedAt)],
    ['Status', invoice.status],
    ['Currency', invoice.currency],
  ];
  if (invoice.paymentReference !== null) facts.push(['Payment reference', invoice.paymentReference]);
  let y = top;
  for (const [label, value] of facts) {
    doc.font('Helvetica-Bold').text(label, 300, y, { width: 100 });
    doc.font('Helvetica').text(value, 400, y, { width: width + left - 400 });
    y = doc.y;
  }
  y = Math.max(afterAddress, y) + 30;

  // Lines: meter, quantity (after what is included), unit price, amount.
  const columns = [
    { title: 'Meter', x: left, width: 150, align: 'left' as const },
    { title: 'Quantity', x: 200, width: 90, align: 'right' as const },
    { title: 'Included', x: 290, width: 70, align: 'right' as const },
    { title: 'Unit price', x: 360, width: 100, align: 'right' as const },
    { title: 'Amount', x: 460, width: width + left - 460, align: 'right' as const },
  ];
  const row = (cells: string[], bold = false) => {
    if (y > doc.page.height - 120) {
      doc.addPage();
      y = 50;
    }
    doc.font(bold ? 'Helvetica-Bold' : 'Helvetica');
    let bottom = y;
    cells.forEach((cell, i) => {
      const c = columns[i]!;
      doc.text(cell, c.x, y, { width: c.width, align: c.align });
      bottom = Math.max(bottom, doc.y);
    });
    y = bottom + 4;
  };
  row(
    columns.map((c) => c.title),
    true,
  );
  doc
    .moveTo(left, y - 2)
    .lineTo(left + width, y - 2)
    .stroke();
  if (invoice.lines.length === 0) row(['No usage in this period.', '', '', '', '']);
  for (const line of invoice.lines) {
    const per = line.per === 1 ? line.unit : `${integer(line.per)} ${line.unit}`;
    row([
      line.meter,
      `${integer(line.quantity)} ${line.unit}`,
      integer(line.included),
      `${formatMoney(line.unitPrice, invoice.currency)} / ${per}`,
      formatMoney(line.amount, invoice.currency),
    ]);
  }
  doc
    .moveTo(left, y)
    .lineTo(left + width, y)
    .stroke();
  y += 8;
  const total = (label: string, value: string, bold: boolean) => {
    doc.font(bold ? 'Helvetica-Bold' : 'Helvetica');
    doc.text(label, 300, y, { width: 150, align: 'right' });
    doc.text(value, 460, y, { width: width + left - 460, align: 'right' });
    y = doc.y + 4;
  };
  total('Subtotal', formatMoney(invoice.subtotal, invoice.currency), false);
  total('Tax', 'not charged', false);
  total('Total', formatMoney(invoice.total, invoice.currency), true);

  doc
    .font('Helvetica')
    .fontSize(8)
    .fillColor('#555555')
    .text(`Content hash (SHA-256): ${invoice.contentHash}`, left, y + 30, { width });
  doc.end();
  return done;
}
