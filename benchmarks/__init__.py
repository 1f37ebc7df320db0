"""The benchmark suite: ``python -m benchmarks`` (or ``make bench``) runs every section.

Sections: the counting path in process (``micro``), Redis memory per visitor and per site
(``memory``), end-to-end HTTP load against counter, a plain aiohttp app and counter's naive
mode (``e2e``), one against two worker processes (``workers``), and a profile of the hot path
(``profile``). Results go to ``benchmarks/results/<date>-<host>.{json,md}`` plus PNG plots.
"""
