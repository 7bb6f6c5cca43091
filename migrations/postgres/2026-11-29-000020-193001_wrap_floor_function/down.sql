DROP FUNCTION piivault_wrap_floor();
