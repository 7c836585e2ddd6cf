"""The public API is short, sorted and complete."""

import simulator


def test_all_is_sorted() -> None:
    """`__all__` lists the public names in sorted order, without repeats."""
    assert simulator.__all__ == sorted(set(simulator.__all__))


def test_all_names_exist_and_nothing_public_is_missing() -> None:
    """Every name in `__all__` exists, and every public attribute that is not a module is listed."""
    for name in simulator.__all__:
        assert hasattr(simulator, name), name
    public = {
        name for name, value in vars(simulator).items()
        if not name.startswith("_") and type(value).__name__ != "module"
    }
    assert public == set(simulator.__all__)
