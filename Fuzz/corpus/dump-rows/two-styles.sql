CREATE TABLE `t_job` (
  `a` int
);
INSERT INTO `t_job` VALUES (1,'a(b'),(2,'x\'),(y');
INSERT INTO `odd``name` VALUES
(1,'\\'),
(2,NULL);
-- Dump completed on 2026-11-25 12:00:00
