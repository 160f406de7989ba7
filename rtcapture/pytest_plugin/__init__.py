"""The pytest plugin: Realtime cassettes (record once, replay offline) and the scripted mock.

Loaded through the ``pytest11`` entry point (:mod:`.plugin`); everything else in this
package is imported only when a test asks for the ``realtime`` or ``realtime_mock``
fixture, so test runs that use neither pay nothing for it. User guide: ``docs/pytest.md``.
"""
