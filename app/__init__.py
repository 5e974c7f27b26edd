"""Liên Thông: the provincial hub that carries edXML official documents between agencies."""
