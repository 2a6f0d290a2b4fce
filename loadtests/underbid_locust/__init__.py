"""The Locust side of Underbid's load tests (the locustfiles import it).

- :mod:`underbid_locust.options`: the ``--ub-*`` options;
- :mod:`underbid_locust.run`: one test's state, its start (the plan and its
  auctions), the chaos greenlet, the figures from the workers, the verdict
  and the report;
- :mod:`underbid_locust.link`: a connection that resumes on another node;
- :mod:`underbid_locust.record`: every entry, to Locust and to the figures;
- :mod:`underbid_locust.users`: the users;
- :mod:`underbid_locust.shape`: the procurement day's load shape.

The logic that does not need Locust (profiles, plans, the bidders of every
format, figures, verdicts) lives in :mod:`client.load`, shared with
``underbid swarm``.
"""
