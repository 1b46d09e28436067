"""The API documentation page, served entirely from this server (see ``router``)."""
