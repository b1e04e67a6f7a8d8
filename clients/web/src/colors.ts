/**
 * A stable colour per unit code, so carets, selections and badges of one unit
 * always match: an FNV-1a hash of the code picks one of sixteen distinct
 * hues, each dark enough for white label text (contrast ≥ 4.5:1).
 */

const PALETTE = [
  '#b3261e', '#0b57d0', '#146c2e', '#8e24aa', '#a14a00', '#00696d', '#c2185b', '#4e5a00',
  '#5e35b1', '#00639b', '#7b5800', '#ad1457', '#2e7d32', '#6d4c41', '#3949ab', '#37474f',
]

/** FNV-1a over the code's UTF-16 units: stable across browsers and sessions. */
function hash(text: string): number {
  let h = 0x811c9dc5
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i)
    h = Math.imul(h, 0x01000193) >>> 0
  }
  return h
}

/** `#rrggbb` for the unit. */
export function unitColor(unit: string): string {
  return PALETTE[hash(unit) % PALETTE.length]
}
