/** Iteration counts above this are refused before any work (OpenSSL writes 2048, Java 10,000; hostile files ask for billions). */
export const MAX_PKCS12_ITERATIONS = 1_000_000;
export const MAX_PKCS12_BYTES = 256 * 1024;
