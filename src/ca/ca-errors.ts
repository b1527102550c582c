/** The CA cannot be loaded or resolved: the start stops with this message (never a key or passphrase in it). */
export class CaLoadError extends Error {}
