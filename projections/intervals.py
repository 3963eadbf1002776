"""Which stored row versions were the ledger's belief at a moment: a relational interval tree.

A row version is believed over a closed interval of recording time [rec_lo, rec_hi] (microseconds).
Asking "which versions held at T" with an ordinary index on rec_lo or rec_hi scans every version
recorded before T (or closed after it), so a report would slow down as corrections pile up. The
relational interval tree (Kriegel, Pötke, Seidl, VLDB 2000) files each interval under one node of
a virtual binary tree, its "fork": the value inside the interval with the most trailing zero bits.
An interval holding T is always filed under a node on the path from the root to T, so a query
reads, with two ordinary B-tree indexes, about 50 index ranges that contain only hits.

Recording times lie below the root (ROOT is in the year 2112), so every interval still open (the
current belief, two thirds of all rows) is filed at the root, and the root always lies to the right
of a past moment. The one question beyond it is "known now" (OPEN), whose answer is exactly the
open intervals. Either way the root is read through the lower bound, and the index on the upper
bound needs only the rows left of the root: the closed ones.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

HEIGHT = 53
OPEN = (1 << HEIGHT) - 1  # the recording interval of the current belief has no end
ROOT = 1 << (HEIGHT - 1)  # where every open interval is filed (see above)
OPEN_DAY = date.max.toordinal()  # nor has the effective interval of an open-ended segment

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MICROSECOND = timedelta(microseconds=1)


def micros(moment: datetime) -> int:
    """A recording time as whole microseconds (exact: no float), shifted so it is never 0."""
    return (moment - _EPOCH) // _MICROSECOND + 1


def fork(lo: int, hi: int) -> int:
    """The node an interval [lo, hi] (1 <= lo <= hi <= OPEN) is filed under."""
    k = ((lo - 1) ^ hi).bit_length() - 1
    return (hi >> k) << k


def path(q: int) -> tuple[list[int], list[int]]:
    """The nodes on the path from the root to q: those left of q (their intervals hold q when
    rec_hi >= q) and those right of q or equal to it (when rec_lo <= q). The root is always on
    the right (see above), so no left node is the root."""
    if q >= ROOT:
        return [], [ROOT]  # known now: the open intervals, all filed at the root
    left, right = [], []
    for k in range(HEIGHT - 1, -1, -1):
        node = ((q >> (k + 1)) << (k + 1)) | (1 << k)
        if node < q:
            left.append(node)
        else:
            right.append(node)
            if node == q:
                break
    return left, right
