/** True for data that is not text: control characters, or bytes that were not UTF-8. */
export const isBinaryText = (text: string): boolean => /[\x00-\x08\x0e-\x1f]/.test(text) || text.includes('\uFFFD');
