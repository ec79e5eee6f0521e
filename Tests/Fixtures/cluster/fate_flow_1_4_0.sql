-- The fate_flow database of a FATE 1.4.0 host for the cluster tests: the schema of FateFlow140 in
-- Tests/FateUpgradeTests/Harness.swift (the five tables the upgrade SQL changes: f_role varchar(10),
-- t_queue without f_frequency) with fewer rows, still with NULLs, the string 'NULL', non-ASCII and
-- quoted text, and a long DSL.
CREATE DATABASE fate_flow DEFAULT CHARACTER SET utf8mb4;
USE fate_flow;
CREATE TABLE t_queue (
  f_job_id varchar(100) NOT NULL,
  f_event varchar(500) NOT NULL,
  f_is_waiting int NOT NULL,
  PRIMARY KEY (f_job_id)
) ENGINE=InnoDB;
CREATE TABLE t_job (
  f_job_id varchar(25) NOT NULL,
  f_name varchar(500) NULL,
  f_description text NULL,
  f_tag varchar(50) NULL,
  f_role varchar(10) NOT NULL,
  f_party_id varchar(10) NOT NULL,
  f_roles text NOT NULL,
  f_work_mode int NOT NULL,
  f_initiator_party_id varchar(50) NOT NULL,
  f_is_initiator int NULL,
  f_dsl longtext NOT NULL,
  f_runtime_conf longtext NOT NULL,
  f_train_runtime_conf longtext NULL,
  f_run_ip varchar(100) NOT NULL,
  f_status varchar(50) NOT NULL,
  f_current_steps varchar(500) NULL,
  f_current_tasks varchar(500) NULL,
  f_progress int NULL,
  f_create_time bigint NOT NULL,
  f_update_time bigint NULL,
  f_start_time bigint NULL,
  f_end_time bigint NULL,
  f_elapsed bigint NULL,
  PRIMARY KEY (f_job_id, f_role, f_party_id),
  KEY t_job_f_tag (f_tag),
  KEY t_job_f_role (f_role),
  KEY t_job_f_party_id (f_party_id),
  KEY t_job_f_initiator_party_id (f_initiator_party_id),
  KEY t_job_f_is_initiator (f_is_initiator)
) ENGINE=InnoDB;
CREATE TABLE t_task (
  f_job_id varchar(25) NOT NULL,
  f_component_name text NOT NULL,
  f_task_id varchar(100) NOT NULL,
  f_role varchar(10) NOT NULL,
  f_party_id varchar(10) NOT NULL,
  f_operator varchar(100) NULL,
  f_run_ip varchar(100) NULL,
  f_run_pid int NULL,
  f_status varchar(50) NOT NULL,
  f_create_time bigint NOT NULL,
  f_update_time bigint NULL,
  f_start_time bigint NULL,
  f_end_time bigint NULL,
  f_elapsed bigint NULL,
  PRIMARY KEY (f_job_id, f_task_id, f_role, f_party_id),
  KEY t_task_f_role (f_role),
  KEY t_task_f_party_id (f_party_id)
) ENGINE=InnoDB;
CREATE TABLE t_data_view (
  f_job_id varchar(25) NOT NULL,
  f_role varchar(10) NOT NULL,
  f_party_id varchar(10) NOT NULL,
  f_table_name varchar(500) NULL,
  f_table_namespace varchar(500) NULL,
  f_component_name text NOT NULL,
  f_create_time bigint NOT NULL,
  f_update_time bigint NULL,
  f_table_count_upload int NULL,
  f_table_count_actual int NULL,
  f_partition int NULL,
  f_task_id varchar(100) NOT NULL,
  f_type varchar(50) NULL,
  f_ttl int NOT NULL,
  f_party_model_id varchar(100) NULL,
  f_model_version varchar(100) NULL,
  f_size bigint NOT NULL,
  f_description text NULL,
  f_tag varchar(50) NULL,
  PRIMARY KEY (f_job_id, f_task_id),
  KEY t_data_view_f_role (f_role),
  KEY t_data_view_f_party_id (f_party_id),
  KEY t_data_view_f_tag (f_tag)
) ENGINE=InnoDB;
CREATE TABLE t_machine_learning_model_meta (
  f_id bigint NOT NULL,
  f_role varchar(10) NOT NULL,
  f_party_id varchar(10) NOT NULL,
  f_roles text NOT NULL,
  f_job_id varchar(25) NOT NULL,
  f_model_id varchar(100) NOT NULL,
  f_model_version varchar(100) NOT NULL,
  f_size bigint NOT NULL,
  f_create_time bigint NOT NULL,
  f_update_time bigint NOT NULL,
  f_description text NULL,
  f_tag varchar(50) NULL,
  PRIMARY KEY (f_id),
  KEY t_machine_learning_model_meta_f_role (f_role),
  KEY t_machine_learning_model_meta_f_party_id (f_party_id),
  KEY t_machine_learning_model_meta_f_model_id (f_model_id),
  KEY t_machine_learning_model_meta_f_model_version (f_model_version),
  KEY t_machine_learning_model_meta_f_tag (f_tag)
) ENGINE=InnoDB;

INSERT INTO t_queue VALUES
  ('2020090112000012345678', '{"job_id": "2020090112000012345678", "initiator_role": "guest", "initiator_party_id": 9999}', 0),
  ('2020090213300098765432', '{"job_id": "2020090213300098765432", "initiator_role": "guest", "initiator_party_id": 9999}', 1);
INSERT INTO t_job VALUES
  ('2020090112000012345678', 'hetero_lr_训练', '纵向逻辑回归 — 第一次训练 ✓ 🚀\nsecond line', 'exp-α', 'guest', '9999',
   '{"guest": [9999], "host": [10000], "arbiter": [10000]}', 1, '9999', 1, REPEAT('{"dataio": {"module": "DataIO"}} ', 2000),
   '{"initiator": {"role": "guest", "party_id": 9999}, "note": "quotes \' \\" and a backslash \\\\ kept"}', NULL,
   '192.168.0.1:9380', 'success', '["dataio_0","hetero_lr_0"]', '["2020090112000012345678_dataio_0"]', 100,
   1598961600000, 1598962200000, 1598961601000, 1598962200000, 599000),
  ('2020090112000012345678', 'hetero_lr_训练', NULL, NULL, 'host', '10000', '{"guest": [9999], "host": [10000]}', 1,
   '9999', 0, '{}', '{}', NULL, '192.168.0.2:9380', 'success', NULL, NULL, 100, 1598961600500, NULL, NULL, NULL, NULL),
  ('2020090213300098765432', NULL, '', '', 'arbiter', '10000', '{"arbiter": [10000]}', 1,
   '9999', -1, '{}', '{}', '{}', '192.168.0.2:9380', 'running', NULL, NULL, 0, 1599053400000, NULL, 1599053401000, NULL, NULL);
INSERT INTO t_task VALUES
  ('2020090112000012345678', 'dataio_0', '2020090112000012345678_dataio_0', 'guest', '9999', NULL, '192.168.0.1', 4242, 'success',
   1598961601000, 1598961700000, 1598961602000, 1598961700000, 98000),
  ('2020090112000012345678', 'hetero_lr_0', '2020090112000012345678_hetero_lr_0', 'host', '10000', 'NULL', NULL, NULL, 'success',
   1598961700500, NULL, NULL, NULL, NULL);
INSERT INTO t_data_view VALUES
  ('2020090112000012345678', 'guest', '9999', 'breast_b', 'experiment', 'dataio_0', 1598961602000, 1598961700000,
   569, 569, 16, '2020090112000012345678_dataio_0', 'data', 0, 'guest#9999#arbiter-10000#guest-9999#host-10000#model',
   '2020090112000012345678', 43210, '训练数据 «breast» \\ \'b\'', 'exp-α'),
  ('2020090112000012345678', 'host', '10000', NULL, NULL, 'hetero_lr_0', 1598961700500, NULL,
   NULL, NULL, NULL, '2020090112000012345678_hetero_lr_0', NULL, 0, NULL, NULL, 0, NULL, NULL);
INSERT INTO t_machine_learning_model_meta VALUES
  (1, 'guest', '9999', '{"guest": [9999], "host": [10000], "arbiter": [10000]}', '2020090112000012345678',
   'arbiter-10000#guest-9999#host-10000#model', '2020090112000012345678', 1048576, 1598962200000, 1598962200000, '模型 · model v1', 'exp-α'),
  (2, 'host', '10000', '{"host": [10000]}', '2020090112000012345678', 'arbiter-10000#guest-9999#host-10000#model',
   '2020090112000012345678', 0, 1598962200500, 0, NULL, NULL);
