// Debian's libsqlite3-dev: snapshots are SQLite files.
#include <sqlite3.h>
