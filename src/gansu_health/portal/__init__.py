"""The citizen app (健康甘肃) served at ``/``: sign-in, family, hospitals, records, articles."""
