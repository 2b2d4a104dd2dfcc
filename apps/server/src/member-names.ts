import { createHash } from 'node:crypto'
import { animals, colors, uniqueNamesGenerator } from 'unique-names-generator'

/** Candidates tried per member before its id stands in for a name (never needed in practice). */
const ATTEMPTS = 64

/**
 * A friendly name for a room member ("Teal Otter"), so a student finds their row on the
 * projector: drawn from colours × animals (about 18,000 names, nothing unkind) seeded by the
 * member's id, so a device that comes back (or a restarted coordinator) gets the same name, and
 * unique among the names `taken` in its room.
 */
export function memberName(deviceId: string, taken: ReadonlySet<string>): string {
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const name = uniqueNamesGenerator({
      dictionaries: [colors, animals],
      separator: ' ',
      style: 'capital',
      // A numeric seed: the library hashes string seeds weakly (similar ids, similar names).
      seed: createHash('sha256').update(`${deviceId}#${attempt}`).digest().readUInt32BE(0),
    })
    if (!taken.has(name)) return name
  }
  return `Device ${deviceId}`
}
