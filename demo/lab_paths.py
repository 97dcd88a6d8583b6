"""Prints, for each client and destination of the lab, the address the far end saw and the one expected."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                'molecule', 'default', 'tests'))
from lab import EXPECTED, VIA, expected, seen  # noqa: E402  (the path above makes it importable)

rows = [('client', 'destination', 'far end saw', 'expected', 'why', '')]
failures = 0
for path in EXPECTED['paths']:
    ip = path.get('ip', 4)
    saw = seen(path['client'], path['name'], ip=ip)
    want = expected(path)
    failures += saw != want
    rows.append((path['client'], path['name'] + (' (IPv6)' if ip == 6 else ''),
                 '%s (%s)' % (saw, VIA.get(saw, '?')) if saw else 'no answer',
                 '%s (%s)' % (want, path['via']) if want else 'no answer (refused)', path['why'],
                 'ok' if saw == want else 'WRONG'))
widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
for row in rows:
    print('  '.join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
print('\n%d of %d paths as expected' % (len(EXPECTED['paths']) - failures, len(EXPECTED['paths'])))
sys.exit(1 if failures else 0)
