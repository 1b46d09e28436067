"""The organizers' pages (``/organize``): challenges, phases, datasets, the evaluation queue
and the audit log. Every page asks ``challenge.access`` through the domain services, exactly
as the API does; this package only turns forms into service calls and results into HTML."""
