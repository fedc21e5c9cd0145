"""``python -m vhdupload_entry``: the same as the ``vhdupload`` command."""

from . import main

main()
