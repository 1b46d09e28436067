"""The web app for people in a browser: sign-in sessions, CSRF protection and the pages of
teams and organizers. Pages call the same services as the API, so visibility, quotas and
permissions are decided in one place; this package only adds cookies, forms and HTML."""
