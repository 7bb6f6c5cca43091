"""Opens a PDF with libpoppler (poppler's library, through its GLib API) and the
password bytes on standard input, as they are: exit 0 when it opens, 1 when refused.

poppler's command-line tools keep at most 32 bytes of a password, so they cannot
test long ones; the library compares up to 127 (ISO 32000-2). Debian 12's
libpoppler 22.12 aborts ("stack smashing detected") when handed more than 127 bytes,
so callers hand it what it compares: the prepared password cut to 127 bytes.

Usage: python3 poppler_open.py FILE.pdf < password-bytes
"""
import ctypes
import sys

poppler = ctypes.CDLL("libpoppler-glib.so.8")
poppler.poppler_document_new_from_file.restype = ctypes.c_void_p
poppler.poppler_document_new_from_file.argtypes = [
    ctypes.c_char_p,
    ctypes.c_char_p,
    ctypes.c_void_p,
]
poppler.poppler_document_get_n_pages.argtypes = [ctypes.c_void_p]

path = sys.argv[1]
password = sys.stdin.buffer.read()
document = poppler.poppler_document_new_from_file(
    b"file://" + path.encode(), password, None
)
if not document or poppler.poppler_document_get_n_pages(document) < 1:
    sys.exit(1)
