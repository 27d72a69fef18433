"""The column header of a plate matrix, full plate or partial plate.

A full plate's matrix is headed by its column numbers ``1..12`` (``1..24``). A plate reader that read only
part of the plate (Gen5 "Full Plate" unticked, a well selection) writes only the columns it read, e.g.
``<TAB>1<TAB>2…<TAB>6`` or ``<TAB>3…<TAB>8``; the wells keep their own numbers. Readers that already use
``grids.columns_of_header`` for full plates call this to also accept the partial header.
"""

from readers.toolkit.grids import columns_of_header


def matrix_columns(cells: list[str], start: int = 1) -> tuple[int, list[int]] | None:
    """(plate width 12 or 24, the column numbers in header order) when ``cells[start:]`` is a matrix header,
    else None. A partial header is two or more consecutive column numbers (a lone number is too weak a sign of
    a header) followed only by empty cells; its width is 24 when a column beyond 12 is read, else 12 (the
    caller widens it when rows beyond H appear)."""
    n = columns_of_header(cells, start)
    if n is not None:
        return n, list(range(1, n + 1))
    numbers: list[int] = []
    for cell in cells[start:]:
        if not cell.strip().isdigit():
            break
        numbers.append(int(cell))
    if len(numbers) < 2 or any(c.strip() for c in cells[start + len(numbers) :]):
        return None
    first, last = numbers[0], numbers[-1]
    if first < 1 or last > 24 or numbers != list(range(first, last + 1)):
        return None
    return (12 if last <= 12 else 24), numbers
