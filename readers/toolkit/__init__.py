"""The reader toolkit: what more than one vendor reader needs, written once.

Together with ``readers.base`` (the reader interface), ``readers.text`` (bytes → lines), ``readers.tokens``
(numbers and censoring tokens), ``readers.units`` and ``readers.platemap`` (plate maps and finding them),
these modules are all a reader may import from the ``readers`` package: readers never import each other.
"""
