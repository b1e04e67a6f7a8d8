"""The opinion monitor (舆情监测): feeds in, alerts out.

``feeds`` parses RSS 2.0, RSS 1.0, Atom and JSON Feed; ``fetch`` gets a feed over
HTTP within bounds; ``text`` normalises Chinese text for matching; ``rules``
matches items and routes them to units; ``dedup`` gives the keys that make
one story one alert; ``jobs`` are the two background jobs. The store seam
is ``rooms.monitor``; the HTTP API ``hub.monitor_api``. Overview:
``docs/MONITOR.md``.
"""
