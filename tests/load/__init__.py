"""Load tests (marker ``load``, not in the default run): many browser sessions on one `panel serve`."""
