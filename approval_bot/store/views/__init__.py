"""The read models of the pages and the API: one module per page family.

Each function takes the store (or a snapshot's reader) first and returns what the page
shows: dataclasses, plain values, or dicts built for the templates. Lists are paged with
a keyset, never with OFFSET. Functions that read more than once open one snapshot, so the
page sees one moment.
"""
