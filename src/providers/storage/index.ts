// The storage provider's public surface: the factory, its options and its errors. The file format and
// layout stay internal to this folder.
export { createStorageProvider, type StorageProviderOptions } from './storage-provider.js';
