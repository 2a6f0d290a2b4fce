"""Locust load test for an Underbid server: bidders of every format and public watchers.

    locust -f loadtests/locustfile.py --host http://127.0.0.1:8000 \\
        --ub-token "$UNDERBID_OPERATOR_TOKEN"                     # web UI on :8089
    locust -f loadtests/locustfile.py --headless -u 50 -r 10 -t 1m \\
        --host http://127.0.0.1:8000 --csv out/ub --html out/ub.html
    locust -f loadtests/locustfile.py --headless -u 60 -r 20 -t 2m \\
        --host http://127.0.0.1:8000 --ub-profile formats         # many auctions, every format

Without ``--ub-profile`` the test creates one ``open`` auction (or joins
``--ub-auction``) and its :class:`BidderUser` bid at ``--ub-bid-rate`` while
its :class:`WatcherUser` watch. With a profile it plans many auctions of
mixed formats and the users take the plan's bidder seats and watcher
windows; loadtests/procurement_day.py adds the day's load shape. The users
speak protocol v1 (docs/protocol.md) in MessagePack; the whole story, every
option and every entry: docs/loadtesting.md.
"""

from __future__ import annotations

import underbid_locust.options  # noqa: F401  (registers the --ub-* options)
from underbid_locust import run  # noqa: F401  (registers the test's listeners)
from underbid_locust.run import auction_spec
from underbid_locust.users import BidderUser, WatcherUser

__all__ = ["BidderUser", "WatcherUser", "auction_spec"]
