DROP TABLE master_key_versions;
DROP TABLE master_key_floor;
