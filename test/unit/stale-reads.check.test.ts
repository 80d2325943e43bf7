/**
 * The load test's staleness check (scripts/load.ts): a read is stale when it returned an
 * entity older than a write applied before the read was sent, or a list of an author's
 * posts that misses one created before. The load test's "0 stale reads" rests on it.
 */
import {
  findStaleReads,
  type CreateRecord,
  type ReadRecord,
  type WriteRecord,
} from '../../scripts/stale-reads';

function userRead(sentAt: number, version: number): ReadRecord {
  return {
    kind: 'user',
    sentAt,
    cache: 'hit',
    observations: [{ entity: 'User:2', version }],
  };
}

function check(reads: ReadRecord[], writes: WriteRecord[], creates: CreateRecord[] = []) {
  return findStaleReads({ reads, writes, creates });
}

const rename = (version: number, appliedAt?: number, seq?: number): WriteRecord => ({
  entity: 'User:2',
  version,
  appliedAt,
  seq,
});

it('counts a read of an older version sent after the newer one was applied', () => {
  const result = check([userRead(1000.5, 1)], [rename(1, 900), rename(2, 1000.2, 77)]);

  expect(result.stale).toBe(1);
  expect(result.examples).toEqual([
    'User:2 read v1 after v2 (SQL, seq 77) was applied, 0.3 ms before the user read (hit) was sent',
  ]);
});

it('accepts the older version from a read sent before the write was applied', () => {
  expect(check([userRead(1000.1, 1)], [rename(1, 900), rename(2, 1000.2)]).stale).toBe(0);
});

it('accepts the newest applied version, and writes never reported applied', () => {
  const writes = [rename(1, 900), rename(2, 1000), rename(3)];

  expect(check([userRead(1100, 2)], writes).stale).toBe(0);
});

it('compares with the newest version applied, whatever order writes were applied in', () => {
  const writes = [rename(3, 950), rename(2, 990)];

  expect(check([userRead(1000, 2)], writes).stale).toBe(1);
  expect(check([userRead(1000, 3)], writes).stale).toBe(0);
});

describe('a list of an author\u2019s posts', () => {
  const listRead = (ids: number[], full: boolean): ReadRecord => ({
    kind: 'posts',
    sentAt: 1000,
    cache: 'hit',
    observations: [],
    list: { author: 7, ids, full },
  });
  const created: CreateRecord[] = [{ author: 7, id: 50, appliedAt: 990 }];

  it('is stale when it misses a post created before it was sent', () => {
    expect(check([listRead([10, 20], false)], [], created).stale).toBe(1);
  });

  it('is fresh when it shows the post, or the post was created after it was sent', () => {
    expect(check([listRead([10, 20, 50], false)], [], created).stale).toBe(0);
    expect(check([listRead([10, 20], false)], [], [{ ...created[0], appliedAt: 1001 }]).stale).toBe(
      0,
    );
  });

  it('is fresh when it is a full page that ends above the new post', () => {
    const page = Array.from({ length: 20 }, (_, i) => 100 + i);

    expect(check([listRead(page, true)], [], created).stale).toBe(0);
  });
});
