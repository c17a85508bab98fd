"""A Kubernetes API double for tests: a real HTTP server speaking the subset of the Kubernetes REST API that
devloop uses, whose Pods run as real Docker containers. See CONTRIBUTING.md ("Kubernetes tests") for what it
supports; :func:`tests.kube_double.server.start_double` starts one, the ``kube_double`` fixture
(tests/kube_double/fixture.py) gives one to a test module.
"""
