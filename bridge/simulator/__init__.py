"""The built-in modem simulator behind ``pppbridge simulate``.

A cellular modem on a pseudo-terminal: an AT interpreter with vendor profiles
(``profiles``, ``at_modem``), PPP in the answering role (``netstack.link``), and a
simulated operator network behind it (``operator``: a network namespace with real echo and
DNS hosts, or ``hosts`` answering by itself when namespaces cannot be made). Faults are
switched on from the command line or, while a session runs, over the control socket.
"""
