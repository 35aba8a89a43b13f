const UNIT_SECONDS: Record<string, number> = {
  s: 1,
  m: 60,
  h: 3600,
  d: 86400,
  w: 7 * 86400,
  // A year is 365 days, as kubeadm's 8760h; no calendar arithmetic.
  y: 365 * 86400,
};

/**
 * Parses a duration such as `8760h`, `365d`, `1y`, `90m` or Go's compound `1h30m`.
 * Returns whole seconds, or undefined when the text is not a positive duration.
 */
export function parseDuration(text: string): number | undefined {
  const trimmed = text.trim();
  if (!/^(\d+(\.\d+)?[smhdwy])+$/.test(trimmed)) return undefined;
  let seconds = 0;
  for (const [, amount, unit] of trimmed.matchAll(/(\d+(?:\.\d+)?)([smhdwy])/g)) {
    seconds += Number(amount) * UNIT_SECONDS[unit!]!;
  }
  return seconds > 0 ? Math.round(seconds) : undefined;
}

/** Short human form, as kubeadm's check-expiration: `364d`, `9y`, `5h`. */
export function formatDuration(seconds: number): string {
  const abs = Math.abs(seconds);
  const sign = seconds < 0 ? '-' : '';
  if (abs >= UNIT_SECONDS.y! * 2) return `${sign}${Math.floor(abs / UNIT_SECONDS.y!)}y`;
  if (abs >= UNIT_SECONDS.d!) return `${sign}${Math.floor(abs / UNIT_SECONDS.d!)}d`;
  if (abs >= UNIT_SECONDS.h!) return `${sign}${Math.floor(abs / UNIT_SECONDS.h!)}h`;
  if (abs >= UNIT_SECONDS.m!) return `${sign}${Math.floor(abs / UNIT_SECONDS.m!)}m`;
  return `${sign}${Math.floor(abs)}s`;
}
