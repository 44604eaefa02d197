"""The release's four tables: what they hold, fetching and caching them, filtering them.

- ``schema``: the columns each table has and their types (as released);
- ``release``: fetch a table, verify its SHA-256, cache it as Parquet, query it;
- ``filters``: the filters users give (``[column, operator, value]``), checked;
- ``shipped``: what the shipped YAML catalogs pin (URLs, SHA-256, dandiset versions).

May import ``transport`` and the top modules ``errors`` and ``config``.
"""
