"""The web console (issue #20): server-rendered pages at ``/console`` of every management member.

Every page is one view function whose result is rendered as HTML or as its JSON twin (``Accept:
application/json`` or a ``.json`` suffix); changes call the same service methods as the JSON API. Console
logins are records in the cluster's store, so they are valid on every member (console/sessions.py), and every
form carries a CSRF token bound to the login. :func:`mount_console` adds the console to a member's app
(runtime/server.py does, for every member):

    app = create_app(service)
    mount_console(app, service, app.state.login_guard)
"""

from hostgate.console.app import console_routes, mount_console

__all__ = ["console_routes", "mount_console"]
