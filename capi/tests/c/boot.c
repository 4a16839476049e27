/*
 * Starts a Cortex data folder the way cortex.cpp would, through the C ABI
 * of cortex-migrate: migrates the folder given as the only argument,
 * printing each progress event as it arrives, then reads its status and
 * verifies it. Each answer is one line: what, code, text.
 * (capi/tests/c_program.rs builds it against include/cortex_migrate.h.)
 */
#include <stdio.h>

#include "cortex_migrate.h"

/* What the progress callback saw (its user_data). */
typedef struct {
  int events;
} Seen;

static void on_event(const char *event_json, void *user_data) {
  Seen *seen = (Seen *)user_data;
  seen->events += 1;
  printf("event %s\n", event_json);
}

/* Prints a call's answer and frees its strings. */
static void show(const char *what, CortexMigrateCode code, char *value,
                 char *error) {
  printf("%s %d %s\n", what, (int)code, value ? value : "-");
  if (error != NULL) {
    printf("%s error %s\n", what, error);
  }
  cortex_migrate_string_free(value);
  cortex_migrate_string_free(error);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s DATA_FOLDER\n", argv[0]);
    return 2;
  }
  const char *folder = argv[1];
  Seen seen = {0};
  char *database = NULL;
  char *error = NULL;

  CortexMigrateCode code = cortex_migrate_open(
      folder, NULL, NULL, CORTEX_MIGRATE_POLICY_MIGRATE,
      CORTEX_MIGRATE_NEWER_DATA_REFUSE, on_event, &seen, &database, &error);
  printf("events %d\n", seen.events);
  show("open", code, database, error);

  char *json = NULL;
  code = cortex_migrate_status(folder, NULL, NULL, &json, &error);
  show("status", code, json, error);
  code = cortex_migrate_verify(folder, NULL, NULL, &json, &error);
  show("verify", code, json, error);
  return 0;
}
