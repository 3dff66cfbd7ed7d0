"""One module per console area; each adds its controller to ``CONSOLE_CONTROLLERS``
(app/console/routes.py) and keeps its templates in templates/console/<area>/."""
