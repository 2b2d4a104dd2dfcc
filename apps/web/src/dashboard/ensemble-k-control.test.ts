import { describe, expect, it } from 'vitest'
import { pinnedKFromUrl } from './ensemble-k-control.ts'

describe('pinnedKFromUrl', () => {
  it('reads a whole K from ?k=, and anything else as not pinned', () => {
    expect(pinnedKFromUrl('?task=fashion&k=2')).toBe(2)
    expect(pinnedKFromUrl('?k=16')).toBe(16)
    for (const search of ['', '?k=', '?k=0', '?k=17', '?k=2.5', '?k=two', '?k=-1', '?k=auto'])
      expect(pinnedKFromUrl(search), search).toBeNull()
  })
})
