// The portal's own stylesheet and script, served by Bulkhead from /portal-assets/ (no CDN, nothing
// inline but the nonce'd colours of the domain). Small on purpose: a page with its assets stays far
// below 100 KB.

export const stylesheet = `
*,*::before,*::after{box-sizing:border-box}
html{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;line-height:1.5;color:#1a1a1a;background:#f5f6f8}
body{margin:0}
a{color:var(--primary)}
a:focus-visible,button:focus-visible,input:focus-visible,select:focus-visible{outline:3px solid var(--accent);outline-offset:2px}
.skip{position:absolute;left:-999px}.skip:focus{left:8px;top:8px;background:#fff;padding:8px;z-index:2}
header.bar{display:flex;flex-wrap:wrap;align-items:center;gap:12px 24px;padding:12px 24px;background:var(--primary);color:#fff}
header.bar a{color:#fff}
header.bar .brand{display:flex;align-items:center;gap:10px;font-weight:600;font-size:1.15rem;text-decoration:none}
header.bar .brand img{height:32px;width:auto;background:#fff;border-radius:4px}
nav ul{display:flex;flex-wrap:wrap;gap:4px 16px;list-style:none;margin:0;padding:0}
nav a[aria-current=page]{text-decoration-thickness:3px}
header.bar form{margin-left:auto}
main{max-width:960px;margin:24px auto;padding:0 16px}
h1{font-size:1.6rem;margin:0 0 16px}
.card{background:#fff;border:1px solid #d8dbe0;border-radius:8px;padding:16px 20px;margin:0 0 16px}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(180px,1fr));gap:16px}
.stat{font-size:2rem;font-weight:700;color:var(--primary)}
table{width:100%;border-collapse:collapse;background:#fff;margin:0 0 16px}
th,td{text-align:left;padding:8px 10px;border-bottom:1px solid #e2e4e8;vertical-align:top;overflow-wrap:anywhere}
th{background:#eef0f3}
label{display:block;font-weight:600;margin:12px 0 4px}
h2{font-size:1.2rem;margin:0 0 8px}
form.inline{display:inline-flex;flex-wrap:wrap;gap:6px;align-items:center;margin:2px 8px 2px 0}
form.inline input[type=password]{max-width:200px;padding:6px}
textarea{font:inherit;width:100%;max-width:420px;padding:8px;border:1px solid #767b85;border-radius:6px}
select{font:inherit;padding:8px;border:1px solid #767b85;border-radius:6px}
svg.chart{width:100%;height:auto;max-width:720px}
svg.chart .bar{fill:var(--primary)}
svg.chart .bar2{fill:#b42318}
svg.chart .line{fill:none;stroke:var(--primary);stroke-width:2}
svg.chart text{font-size:11px;fill:#1a1a1a}
svg.chart .axis{stroke:#767b85}
fieldset{border:1px solid #d8dbe0;border-radius:6px;margin:12px 0;padding:8px 12px}
label.check{display:inline-flex;gap:6px;align-items:center;font-weight:400;margin:4px 16px 4px 0}
input[type=number]{width:8em;padding:10px;border:1px solid #767b85;border-radius:6px;font:inherit}
input[type=text],input[type=email],input[type=password]{width:100%;max-width:420px;padding:10px;border:1px solid #767b85;border-radius:6px;font:inherit}
button{font:inherit;padding:9px 16px;border-radius:6px;border:1px solid var(--primary);background:var(--primary);color:#fff;cursor:pointer}
button.secondary{background:#fff;color:var(--primary)}
header.bar button{background:#fff;color:#1a1a1a;border-color:#fff}
.notice{padding:12px 16px;border-radius:6px;background:#fff4d6;border:1px solid #b38600;margin:0 0 16px}
.error{background:#fde8e8;border-color:#b42318}
.muted{color:#545b66}
.signin{max-width:440px;margin:48px auto}
code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.9em;background:#eef0f3;padding:2px 4px;border-radius:4px}
footer{max-width:960px;margin:32px auto;padding:0 16px;color:#545b66;font-size:.9rem}
@media (max-width:600px){header.bar{padding:10px 12px}main{margin:12px auto}th,td{padding:6px}.hide-narrow{display:none}}
`;

/** Copies the text of the element a copy button names (`data-copy`) to the clipboard. */
export const script = `
document.querySelectorAll('button[data-copy]').forEach(function (b) {
  b.hidden = false;
  b.addEventListener('click', function () {
    var el = document.getElementById(b.getAttribute('data-copy'));
    if (el && navigator.clipboard) navigator.clipboard.writeText(el.textContent).then(function () { b.textContent = 'Copied'; });
  });
});
`;
