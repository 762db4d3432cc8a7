"""The public API is exactly what __all__ says, and every name imports."""

import studio_ext
import studio_ext.backends
import studio_ext.entities
import studio_ext.errors
import studio_ext.services


def test_top_level_all_names_exist() -> None:
    for module in (studio_ext, studio_ext.backends, studio_ext.entities, studio_ext.errors, studio_ext.services):
        missing = [n for n in module.__all__ if not hasattr(module, n)]
        assert missing == [], f"{module.__name__} lacks {missing}"


def test_every_error_is_a_studio_error_with_an_http_status() -> None:
    for name in studio_ext.errors.__all__:
        cls = getattr(studio_ext.errors, name)
        if issubclass(cls, Warning):  # the one warning category: Azure fields kept with no local meaning
            assert cls is studio_ext.errors.AzureFieldNote and issubclass(cls, UserWarning)
            continue
        assert issubclass(cls, studio_ext.errors.StudioError)
        assert 400 <= cls.http_status < 600


def test_the_backend_seam_exports_what_a_new_backend_needs() -> None:
    assert {"Backend", "BackendFactory", "Runtime", "RuntimeStatus", "SERVICE_PROTOCOLS", "ENTRY_POINT_GROUP",
            "register_backend", "get_backend_factory"} <= set(studio_ext.backends.__all__)
    assert set(studio_ext.backends.SERVICE_PROTOCOLS.values()) <= {
        getattr(studio_ext.services, n) for n in studio_ext.services.__all__}
