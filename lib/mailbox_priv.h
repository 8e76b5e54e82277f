/* Internals of lib/mailbox.c and lib/mailbox_server.c that the unit tests use. */
#pragma once
#include <stdatomic.h>

#include "lib/mailbox.h"

/* Opens a mailbox on given areas (the store finds them for mailbox_open);
 * name is for messages. */
int mailbox_open_at(const char *name, const char *inbox, uint64_t inbox_offset, const char *outbox,
		    uint64_t outbox_offset, struct mailbox **ret);
/* The next sequence number for host's request (lib/mailbox.c): past last and
 * past what host's inbox and outbox slots hold. */
int mailbox_next_seq(struct mailbox *mb, unsigned host, uint64_t last, uint64_t *ret);

/* What an SPM's poller knows of a mailbox: per host, the last sequence number
 * answered (read from the outbox when it starts, so a new SPM never runs a
 * request an old one answered), and up to which host id it reads the inbox
 * every poll. */
struct mailbox_poll {
	const char *name; /* for messages */
	const char *pool; /* the handler's first argument */
	struct mailbox *mb;
	mailbox_handler handler;
	unsigned spm_host;
	const atomic_bool *stop; /* NULL: never */
	uint64_t served[MAILBOX_HOSTS + 1];
	uint64_t deferred[MAILBOX_HOSTS + 1]; /* left for the next SPM: not run again here */
	unsigned high; /* highest host id whose inbox slot is not empty */
	uint8_t *buf;  /* MAILBOX_HOSTS slots */
};
/* Reads the outbox (what was answered) and every inbox slot, answering what
 * is new. ps: name, mb, handler, spm_host and stop set, the rest zero. */
int mailbox_poll_start(struct mailbox_poll *ps);
/* Reads inbox slots 1..n and answers each request not answered yet. */
int mailbox_poll_scan(struct mailbox_poll *ps, unsigned n);
void mailbox_poll_free(struct mailbox_poll *ps);
