/** The bounded cache keeps recent entries, forgets old ones first, and never grows past twice its capacity. */
import { describe, expect, test } from '@jest/globals';
import { BoundedCache } from '../../src/bounded-cache.js';

describe('bounded cache', () => {
  test('holds at most twice its capacity, whatever is inserted', () => {
    const cache = new BoundedCache<number, number>(100);
    for (let i = 0; i < 10_000; i++) cache.set(i, i);
    expect(cache.size).toBeLessThanOrEqual(200);
    expect(cache.get(9_999)).toBe(9_999);
    expect(cache.get(0)).toBeUndefined();
  });

  test('an entry in use survives generations; one not used is forgotten', () => {
    const cache = new BoundedCache<string, string>(2);
    cache.set('kept', 'v');
    cache.set('old', 'v');
    cache.set('a', 'v'); // new generation: kept, old move to the previous one
    expect(cache.get('kept')).toBe('v'); // carried into the current generation
    cache.set('b', 'v'); // another generation: 'old' is dropped
    expect(cache.get('old')).toBeUndefined();
    expect(cache.get('kept')).toBe('v');
  });

  test('capacity 0 keeps nothing; delete forgets', () => {
    const off = new BoundedCache<string, string>(0);
    off.set('a', 'v');
    expect(off.get('a')).toBeUndefined();
    const cache = new BoundedCache<string, string>(10);
    cache.set('a', 'v');
    cache.delete('a');
    expect(cache.get('a')).toBeUndefined();
  });
});
