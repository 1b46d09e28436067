"""Pages for participants: their team, the submit page, a submission's results and the
how-to of a phase. Each action calls the service the API route calls; this package only
reads forms, picks the template and redirects."""
