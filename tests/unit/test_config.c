/* agent/config: sanpoold's configuration file. */
#include "testutil.h"

#include <errno.h>

#include "agent/config.h"
#include "lib/util/cleanup.h"

static int setup(void **state)
{
	*state = test_mkdtemp();
	log_set_level(LOG_LVL_ERROR);
	return 0;
}

static int teardown(void **state)
{
	test_rmdtemp(*state);
	return 0;
}

/* Loads text as a config file over the defaults; returns config_load's result. */
static int load(void **state, const char *text, struct config *c)
{
	char *path = xasprintf("%s/sanpoold.conf", (const char *)*state);
	test_write(path, text);
	config_defaults(c);
	int r = config_load(path, c);
	free(path);
	return r;
}

static void test_defaults(void **state)
{
	(void)state;
	struct config c;
	memset(&c, 0xff, sizeof(c));
	config_defaults(&c);
	assert_string_equal(c.listen_address, "127.0.0.1"); /* loopback unless told */
	assert_int_equal(c.port, 7447);
	assert_string_equal(c.data_dir, "/var/lib/sanpool");
	assert_int_equal(c.log_level, LOG_LVL_INFO);
	assert_int_equal(c.task_workers, 4);
	assert_int_equal(c.host_id, 1);
	assert_int_equal(c.max_body_bytes, 64 * 1024);
	assert_false(c.bootstrap_default);
	assert_int_equal(c.lvm_timeout_s, 60);
	assert_int_equal(c.tasks_kept, 2000);
}

static void test_empty_file_keeps_defaults(void **state)
{
	struct config c, d;
	assert_int_equal(load(state, "# nothing\n\n   \n\t# indented comment\n", &c), 0);
	config_defaults(&d);
	assert_memory_equal(&c, &d, sizeof(c));
}

static void test_every_key(void **state)
{
	struct config c;
	assert_int_equal(load(state,
			      "# every key\n"
			      "listen_address = ::1\n"
			      "port=0\n"
			      "  data_dir   =   /srv/sanpool data  \n"
			      "log_level = debug\r\n"
			      "task_workers = 64\n"
			      "host_id = 2000\n"
			      "max_body_bytes = 1024\n"
			      "bootstrap_default = yes\n"
			      "thin_extend_chunk_mib = 512\n"
			      "lvm_timeout_s = 3600\n"
			      "tasks_kept = 10\n",
			      &c),
			 0);
	assert_string_equal(c.listen_address, "::1");
	assert_int_equal(c.port, 0);
	assert_string_equal(c.data_dir, "/srv/sanpool data"); /* inner spaces kept, outer trimmed */
	assert_int_equal(c.log_level, LOG_LVL_DEBUG);
	assert_int_equal(c.task_workers, 64);
	assert_int_equal(c.host_id, 2000);
	assert_int_equal(c.max_body_bytes, 1024);
	assert_true(c.bootstrap_default);
	assert_int_equal(c.thin_extend_chunk, 512ULL << 20);
	assert_int_equal(c.lvm_timeout_s, 3600);
	assert_int_equal(c.tasks_kept, 10);
}

static void test_other_values(void **state)
{
	struct config c;
	assert_int_equal(load(state,
			      "port = 65535\ntask_workers = 1\nhost_id = 1\nmax_body_bytes = 16777216\n"
			      "log_level = warning\nbootstrap_default = no\n",
			      &c),
			 0);
	assert_int_equal(c.port, 65535);
	assert_int_equal(c.task_workers, 1);
	assert_int_equal(c.max_body_bytes, 16 * 1024 * 1024);
	assert_int_equal(c.log_level, LOG_LVL_WARNING);
	assert_false(c.bootstrap_default);

	static const char *const bools[][2] = { { "true", "1" }, { "1", "1" }, { "false", "0" }, { "0", "0" } };
	for (size_t i = 0; i < sizeof(bools) / sizeof(bools[0]); i++) {
		char *text = xasprintf("bootstrap_default = %s\n", bools[i][0]);
		assert_int_equal(load(state, text, &c), 0);
		assert_int_equal(c.bootstrap_default, bools[i][1][0] == '1');
		free(text);
	}
	static const char *const levels[] = { "error", "warning", "info", "debug" };
	static const enum log_level want[] = { LOG_LVL_ERROR, LOG_LVL_WARNING, LOG_LVL_INFO, LOG_LVL_DEBUG };
	for (size_t i = 0; i < 4; i++) {
		char *text = xasprintf("log_level = %s\n", levels[i]);
		assert_int_equal(load(state, text, &c), 0);
		assert_int_equal(c.log_level, want[i]);
		free(text);
	}
}

static void test_loads_over_existing_values(void **state)
{
	char *path = xasprintf("%s/sanpoold.conf", (const char *)*state);
	struct config c;
	config_defaults(&c);
	c.port = 1234;
	test_write(path, "host_id = 7\n");
	assert_int_equal(config_load(path, &c), 0);
	assert_int_equal(c.port, 1234);
	assert_int_equal(c.host_id, 7);
	free(path);
}

static void test_bad_values_rejected(void **state)
{
	static const char *const bad[] = {
		"port = 65536",
		"port = -1",
		"port = http",
		"port = 80x",
		"port = 0x50",
		"port =",
		"port = 99999999999999999999999",
		"task_workers = 0",
		"task_workers = 65",
		"task_workers = four",
		"host_id = 0",
		"host_id = 2001",
		"host_id = 1.5",
		"max_body_bytes = 1023",
		"max_body_bytes = 16777217",
		"max_body_bytes = 64k",
		"log_level = verbose",
		"log_level = DEBUG",
		"log_level =",
		"lvm_timeout_s = 0",
		"tasks_kept = 9",
		"lvm_timeout_s = 3601",
		"bootstrap_default = maybe",
		"bootstrap_default = on",
		"bootstrap_default =",
		"data_dir =",
		"listen_address = 0123456789012345678901234567890123456789012345678901234567890123",
		"port 7447",
		"just words",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct config c, d;
		char *text = xasprintf("# ok\nhost_id = 3\n%s\n", bad[i]);
		int r = load(state, text, &c);
		if (r != -EINVAL)
			fail_msg("\"%s\" accepted (r = %d)", bad[i], r);
		free(text);
		(void)d;
	}
}

static void test_unknown_keys_rejected(void **state)
{
	static const char *const bad[] = { "prot = 7447", "Port = 7447", "listen = 0.0.0.0", "port.x = 1", "= 5" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct config c;
		char *text = xasprintf("%s\n", bad[i]);
		if (load(state, text, &c) != -EINVAL)
			fail_msg("\"%s\" accepted", bad[i]);
		free(text);
	}
}

static void test_tls_keys(void **state)
{
	struct config c;
	config_defaults(&c);
	assert_true(c.tls); /* mutual TLS unless told */
	assert_string_equal(c.tls_ca, "/etc/sanpool/pki/ca.pem");
	assert_string_equal(c.local_socket, "/run/sanpool/sanpoold.sock");
	assert_int_equal(load(state,
			      "tls_cert = /p/s.pem\ntls_key = /p/s.key\ntls_ca = /p/ca.pem\n"
			      "local_socket = /r/x.sock\n",
			      &c),
			 0);
	assert_true(c.tls);
	assert_string_equal(c.tls_cert, "/p/s.pem");
	assert_string_equal(c.tls_key, "/p/s.key");
	assert_string_equal(c.tls_ca, "/p/ca.pem");
	assert_string_equal(c.local_socket, "/r/x.sock");
	assert_int_equal(load(state, "local_socket =\n", &c), 0);
	assert_string_equal(c.local_socket, ""); /* none */
}

/* Plain HTTP is only for loopback: anything else with tls = no is refused
 * whole, whatever order the keys come in. */
static void test_plain_http_only_on_loopback(void **state)
{
	static const char *const ok[] = { "127.0.0.1", "127.1.2.3", "::1", "::ffff:127.0.0.1" };
	static const char *const refused[] = { "0.0.0.0", "10.0.2.15", "192.168.1.1", "::", "fe80::1",
					       "::ffff:10.0.0.1", "128.0.0.1" };
	struct config c;
	for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
		char *text = xasprintf("tls = no\nlisten_address = %s\n", ok[i]);
		if (load(state, text, &c) != 0)
			fail_msg("tls = no refused on %s", ok[i]);
		assert_false(c.tls);
		free(text);
	}
	for (size_t i = 0; i < ARRAY_SIZE(refused); i++) {
		char *text = xasprintf("listen_address = %s\ntls = no\n", refused[i]);
		if (load(state, text, &c) != -EINVAL)
			fail_msg("tls = no accepted on %s", refused[i]);
		free(text);
		text = xasprintf("listen_address = %s\ntls = yes\n", refused[i]);
		assert_int_equal(load(state, text, &c), 0); /* with TLS any address is fine */
		free(text);
	}
	assert_int_equal(load(state, "tls = maybe\n", &c), -EINVAL);
	assert_int_equal(load(state, "tls_cert =\n", &c), -EINVAL);
}

static void test_missing_file(void **state)
{
	char *path = xasprintf("%s/absent.conf", (const char *)*state);
	struct config c;
	config_defaults(&c);
	assert_int_equal(config_load(path, &c), -ENOENT);
	free(path);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_defaults),
		T(test_empty_file_keeps_defaults),
		T(test_every_key),
		T(test_other_values),
		T(test_loads_over_existing_values),
		T(test_bad_values_rejected),
		T(test_unknown_keys_rejected),
		T(test_tls_keys),
		T(test_plain_http_only_on_loopback),
		T(test_missing_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
