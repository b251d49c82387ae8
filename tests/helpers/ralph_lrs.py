"""Runs Ralph's LRS (ralph.api:app, file-system backend) with uvicorn on 127.0.0.1:PORT, in Ralph's own
virtualenv (scripts/ralph/install): `.cache/ralph/bin/python tests/helpers/ralph_lrs.py PORT`.

`ralph runserver` does the same behind a file watcher; this skips the watcher and changes one thing:
Ralph 5.1.0's file-system data backend writes with operation CREATE by default, which refuses to write
to a file that exists, so its LRS stores the first POST of statements and answers 500 to every later
one. Its APPEND operation is what an LRS on one file needs; everything else — validation, duplicate
handling, storage, the xAPI GET — is Ralph's own."""

import sys

import uvicorn
from ralph.backends.data.base import BaseOperationType
from ralph.backends.data.fs import FSDataBackend

FSDataBackend.default_operation_type = BaseOperationType.APPEND

if __name__ == "__main__":
    uvicorn.run("ralph.api:app", host="127.0.0.1", port=int(sys.argv[1]), log_level="info")
