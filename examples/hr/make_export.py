#!/usr/bin/env python3
"""Writes the bundled example export exactly as SQLcl prints it with SET SQLFORMAT CSV.

The rows are hand-written LogMiner output covering the hard cases of SPEC.md §2/§3: interleaved
transactions, several commits at one SCN, a partial rollback by ROW_ID, a full rollback, a
replication marker, CSF continuation rows, a partial XID, an unsupported operation, every value
type, odd table and column names, and a transaction still open at the end of the export.
"""
import csv, sys

COLS = ["SCN", "TIMESTAMP", "XID", "OPERATION_CODE", "OPERATION", "SEG_OWNER", "TABLE_NAME",
        "ROW_ID", "ROLLBACK", "CSF", "SQL_REDO", "THREAD#", "RS_ID", "SSN", "STATUS", "INFO"]
OPS = {1: "INSERT", 2: "DELETE", 3: "UPDATE", 5: "DDL", 6: "START", 7: "COMMIT", 27: "UNSUPPORTED",
       36: "ROLLBACK", 255: "UNSUPPORTED"}
rows = []
def r(scn, ts, xid, op, owner="", table="", rowid="", sql="", rollback=0, csf=0, thread=1):
    rows.append([scn, ts, xid, op, OPS.get(op, "OTHER"), owner, table, rowid, rollback, csf, sql,
                 thread, " 0x00001a.00000123.0010 ", 0, 0, ""])

E = '"HR"."EMPLOYEES"'
T1, T2, T3, T4, T5, T6, T7, T8, T9, T10 = (
    "0A0012004E0A0000", "0A001300500A0000", "0B000200610B0000", "0C000700710C0000",
    "0D000100810D0000", "0E000500910E0000", "0F000400A10F0000", "10000800B1100000",
    "11000900C1110000", "12000A00D1120000")
ts = "2024-03-01 09:00:0"
# T1: two inserts, simple commit.
r(1000, ts + "0", T1, 6, sql="set transaction read write;")
r(1001, ts + "0", T1, 1, "HR", "EMPLOYEES", "AAAR3sAAEAAAACXAAA",
  f"insert into {E}(\"EMPLOYEE_ID\",\"FIRST_NAME\",\"LAST_NAME\",\"EMAIL\",\"HIRE_DATE\",\"SALARY\",\"UPDATED_AT\",\"PHOTO\",\"NOTES\") values "
  "('100','Steven','King','SKING',TO_DATE('2003-06-17 00:00:00', 'YYYY-MM-DD HH24:MI:SS'),'24000',TO_TIMESTAMP('2024-03-01 09:00:00.123456'),HEXTORAW('0aff'),NULL);")
r(1002, ts + "1", T1, 1, "HR", "EMPLOYEES", "AAAR3sAAEAAAACXAAB",
  f"insert into {E}(\"EMPLOYEE_ID\",\"FIRST_NAME\",\"LAST_NAME\",\"EMAIL\",\"HIRE_DATE\",\"SALARY\",\"UPDATED_AT\",\"PHOTO\",\"NOTES\") values "
  "('101','Neena','O''Kochhar, \"Jr\"','NKOCHHAR',TO_DATE('21-SEP-05', 'DD-MON-RR'),'17000.50',NULL,NULL,EMPTY_CLOB());")
r(1003, ts + "1", T1, 7, sql="commit;")
# T2 and T3 interleave; T3 commits first. T2 and T4 then commit at the same SCN 1010.
r(1004, ts + "2", T2, 6, sql="set transaction read write;")
r(1004, ts + "2", T2, 3, "HR", "EMPLOYEES", "AAAR3sAAEAAAACXAAA",
  f"update {E} set \"SALARY\" = '25000', \"UPDATED_AT\" = TO_TIMESTAMP('2024-03-01 09:00:02.5') where \"EMPLOYEE_ID\" = '100' and \"FIRST_NAME\" = 'Steven' and \"LAST_NAME\" = 'King' and \"EMAIL\" = 'SKING' and \"HIRE_DATE\" = TO_DATE('2003-06-17 00:00:00', 'YYYY-MM-DD HH24:MI:SS') and \"SALARY\" = '24000' and \"UPDATED_AT\" = TO_TIMESTAMP('2024-03-01 09:00:00.123456') and \"PHOTO\" = HEXTORAW('0aff') and \"NOTES\" IS NULL and ROWID = 'AAAR3sAAEAAAACXAAA';")
r(1005, ts + "2", T3, 6, sql="set transaction read write;")
r(1005, ts + "2", T3, 1, "HR", "order lines", "AAAR3tAAEAAAACbAAA",
  'insert into "HR"."order lines"("Line#","unit $price","note, text","created") values '
  "(1,12.50,'a \"quoted\" note, with comma and '' and ) and \" = \" inside',TO_TIMESTAMP_TZ('2024-03-01 09:00:02.000000 +02:00'));")
r(1006, ts + "3", T2, 2, "HR", "EMPLOYEES", "AAAR3sAAEAAAACXAAB",
  f"delete from {E} where \"EMPLOYEE_ID\" = '101' and \"FIRST_NAME\" = 'Neena' and \"LAST_NAME\" = 'O''Kochhar, \"Jr\"' and \"EMAIL\" = 'NKOCHHAR' and \"HIRE_DATE\" = TO_DATE('2005-09-21 00:00:00', 'YYYY-MM-DD HH24:MI:SS') and \"SALARY\" = '17000.50' and \"UPDATED_AT\" IS NULL and \"PHOTO\" IS NULL and ROWID = 'AAAR3sAAEAAAACXAAB';")
r(1007, ts + "3", T3, 7, sql="commit;")
r(1008, ts + "4", T4, 6, sql="set transaction read write;")
r(1008, ts + "4", T4, 1, "HR", "order lines", "AAAR3tAAEAAAACbAAB",
  'insert into "HR"."order lines"("Line#","unit $price","note, text","created") values '
  "(2,-0.5,UNISTR('caf\\00e9 \\00fcber \\D83D\\DE00') || ' & more',NULL);")
r(1010, ts + "5", T2, 7, sql="commit;")
r(1010, ts + "5", T4, 7, sql="commit;")
# T5: insert, a partial rollback of it (ROLLBACK=1 by ROW_ID), then another insert.
r(1011, ts + "6", T5, 6, sql="set transaction read write;")
r(1011, ts + "6", T5, 1, "HR", "EMPLOYEES", "AAAR3sAAEAAAACXAAC",
  f"insert into {E}(\"EMPLOYEE_ID\",\"FIRST_NAME\",\"LAST_NAME\",\"EMAIL\",\"HIRE_DATE\",\"SALARY\",\"UPDATED_AT\",\"PHOTO\",\"NOTES\") values "
  "('102','Lex','De Haan','LDEHAAN',TO_DATE('2001-01-13 00:00:00', 'YYYY-MM-DD HH24:MI:SS'),'17000',NULL,NULL,NULL);")
r(1012, ts + "6", T5, 2, "HR", "EMPLOYEES", "AAAR3sAAEAAAACXAAC",
  f"delete from {E} where ROWID = 'AAAR3sAAEAAAACXAAC';", rollback=1)
r(1013, ts + "6", T5, 1, "HR", "EMPLOYEES", "AAAR3sAAEAAAACXAAD",
  f"insert into {E}(\"EMPLOYEE_ID\",\"FIRST_NAME\",\"LAST_NAME\",\"EMAIL\",\"HIRE_DATE\",\"SALARY\",\"UPDATED_AT\",\"PHOTO\",\"NOTES\") values "
  "('103','Alexander','Hunold','AHUNOLD',TO_DATE('2006-01-03 00:00:00', 'YYYY-MM-DD HH24:MI:SS'),'9000',NULL,NULL,NULL);")
r(1014, ts + "7", T5, 7, sql="commit;")
# T6: rolled back entirely.
r(1015, ts + "7", T6, 6, sql="set transaction read write;")
r(1015, ts + "7", T6, 2, "HR", "EMPLOYEES", "AAAR3sAAEAAAACXAAA",
  f"delete from {E} where \"EMPLOYEE_ID\" = '100' and ROWID = 'AAAR3sAAEAAAACXAAA';")
r(1016, ts + "8", T6, 36, sql="rollback;")
# T7: a long CLOB value printed over three rows (CSF = 1, 1, 0); a partial-XID row joins it.
notes = "Line one, with \"quotes\" and 'apostrophes'\nline two: ünïcödé ✓ " + "x" * 60
esc = notes.replace("'", "''")
full = (f"insert into {E}(\"EMPLOYEE_ID\",\"FIRST_NAME\",\"LAST_NAME\",\"EMAIL\",\"HIRE_DATE\",\"SALARY\",\"UPDATED_AT\",\"PHOTO\",\"NOTES\") values "
        f"('104','Bruce','Ernst','BERNST',TO_DATE('2007-05-21 00:00:00', 'YYYY-MM-DD HH24:MI:SS'),'6000',TO_TIMESTAMP('2024-03-01 09:00:09'),HEXTORAW('DEADbeef'),'{esc}');")
a, b = 120, 230
r(1017, ts + "9", T7, 6, sql="set transaction read write;")
r(1018, ts + "9", T7, 1, "HR", "EMPLOYEES", "AAAR3sAAEAAAACXAAE", full[:a], csf=1)
r(1018, ts + "9", T7, 1, "HR", "EMPLOYEES", "AAAR3sAAEAAAACXAAE", full[a:b], csf=1)
r(1018, ts + "9", T7, 1, "HR", "EMPLOYEES", "AAAR3sAAEAAAACXAAE", full[b:], csf=0)
r(1019, "2024-03-01 09:00:10", T7[:8] + "FFFFFFFF", 3, "HR", "EMPLOYEES", "AAAR3sAAEAAAACXAAE",
  f"update {E} set \"EMAIL\" = 'BRUCE.ERNST' where \"EMPLOYEE_ID\" = '104' and ROWID = 'AAAR3sAAEAAAACXAAE';")
r(1020, "2024-03-01 09:00:10", T7, 255, "HR", "EMPLOYEES", "", "Unsupported")
r(1021, "2024-03-01 09:00:11", T7, 7, sql="commit;")
# T8: a replication marker: the whole transaction is dropped.
r(1022, "2024-03-01 09:00:11", T8, 6, sql="set transaction read write;")
r(1022, "2024-03-01 09:00:11", T8, 1, "HR", "order lines", "AAAR3tAAEAAAACbAAC",
  'insert into "HR"."order lines"("Line#","unit $price","note, text","created") values (3,1,\'replicated\',NULL);')
r(1023, "2024-03-01 09:00:11", T8, 27, sql="")
r(1024, "2024-03-01 09:00:12", T8, 7, sql="commit;")
# T9: intervals, a SET to NULL, a missing WHERE column (unlogged), on thread 2 (RAC).
r(1025, "2024-03-01 09:00:12", T9, 6, sql="set transaction read write;", thread=2)
r(1025, "2024-03-01 09:00:12", T9, 1, "HR", "order lines", "AAAR3tAAEAAAACbAAD",
  'insert into "HR"."order lines"("Line#","unit $price","note, text","created","wait") values '
  "(4,3.25E+2,'interval row',NULL,TO_DSINTERVAL('+01 02:03:04.500000'));", thread=2)
r(1026, "2024-03-01 09:00:13", T9, 3, "HR", "order lines", "AAAR3tAAEAAAACbAAA",
  'update "HR"."order lines" set "note, text" = NULL where "Line#" = 1', thread=2)
r(1027, "2024-03-01 09:00:13", T9, 7, sql="commit;", thread=2)
# T10: still open at the end of the export: not written.
r(1028, "2024-03-01 09:00:14", T10, 6, sql="set transaction read write;")
r(1029, "2024-03-01 09:00:14", T10, 1, "HR", "EMPLOYEES", "AAAR3sAAEAAAACXAAF",
  f"insert into {E}(\"EMPLOYEE_ID\",\"FIRST_NAME\") values ('105','Open');")

w = csv.writer(open("logmnr_contents.csv", "w", newline=""), quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
w.writerow(COLS)
for row in rows:
    w.writerow(row)

cols = [("HR", "EMPLOYEES", n, t, i + 1) for i, (n, t) in enumerate([
    ("EMPLOYEE_ID", "NUMBER"), ("FIRST_NAME", "VARCHAR2"), ("LAST_NAME", "VARCHAR2"),
    ("EMAIL", "VARCHAR2"), ("HIRE_DATE", "DATE"), ("SALARY", "NUMBER"),
    ("UPDATED_AT", "TIMESTAMP(6)"), ("PHOTO", "RAW"), ("NOTES", "CLOB")])]
cols += [("HR", "order lines", n, t, i + 1) for i, (n, t) in enumerate([
    ("Line#", "NUMBER"), ("unit $price", "NUMBER"), ("note, text", "VARCHAR2"),
    ("created", "TIMESTAMP(6) WITH TIME ZONE"), ("wait", "INTERVAL DAY(2) TO SECOND(6)")])]
w = csv.writer(open("all_tab_columns.csv", "w", newline=""), quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
w.writerow(["OWNER", "TABLE_NAME", "COLUMN_NAME", "DATA_TYPE", "COLUMN_ID", "NULLABLE"])
# SQLcl prints in whatever order the query asked; shuffle a little to prove COLUMN_ID decides.
for c in sorted(cols, key=lambda c: (c[1], -c[4])):
    w.writerow(list(c) + ["Y"])
