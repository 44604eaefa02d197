"""The release's four tables: what they hold, fetching and caching them, filtering them.

- ``schema``: the columns each table has and their types (as released);
- ``release``: fetch a table, verify its SHA-256, cache it as Parquet, query it;
- ``filters``: the filters users give (``[column, operator, value]``), checked;
- ``cells``: the cells users choose (ids, filters), checked against the metadata;
- ``paper``: papers' per-cell tables (kind ``paper``): their light schema,
  and ``join_sessions`` (a paper's columns on the rows of its sessions);
- ``shipped``: where the shipped YAML catalogs and asset listings lie, and
  what the catalogs pin (URLs, SHA-256, dandiset versions); light to import,
  as the catalog imports it.

May import ``transport`` and the top modules ``errors`` and ``config``.
"""
