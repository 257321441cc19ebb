// The storage provider's public surface: the factories (a local directory, an S3-compatible store), their
// options and errors. The file format and
// layout stay internal to this folder.
export { createStorageProvider, type StorageProviderOptions } from './storage-provider.js';
export { createS3StorageProvider, type S3Location, type S3StorageProviderOptions } from './s3-objects.js';
