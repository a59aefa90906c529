/*
 * _memory_core: the C core of MemoryCache (an optional accelerator).
 *
 * Same semantics as _PyMemoryCore in memory.py, which stays the reference and the fallback
 * when this module is not built; both run the whole conformance suite.
 *
 *  - data: dict  key (exact str) -> Node;  Node = (key, value bytes, deadline, LRU links).
 *  - LRU: a doubly linked list, head = least recently used; a hit moves its node to the tail.
 *  - Clock: when the cache's clock is time.monotonic it is read with clock_gettime here;
 *    any other callable (a test's manual clock) is called.
 *  - Validation: only the plainly valid case (short printable ASCII key, bytes value, None or a
 *    finite positive float/int TTL) is decided here; anything else is handed to
 *    llm_core.adapters.validation, so the rules and error messages live in one place.
 *  - Thread safety: every method reads the clock and validates first (the only steps that may
 *    run Python code), then changes the structure without calling back into Python, so each
 *    method is atomic under the GIL.  The module does not declare free-threading support.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <time.h>

/* ------------------------------------------------------------------------------------- */
/* Node                                                                                   */

typedef struct Node {
    PyObject_HEAD
    PyObject *key;     /* exact str */
    PyObject *value;   /* exact bytes */
    double deadline;   /* on the cache's clock; INFINITY = never */
    struct Node *prev; /* borrowed: the dict owns the node */
    struct Node *next;
    int linked;
} Node;

static void
Node_dealloc(Node *node)
{
    Py_XDECREF(node->key);
    Py_XDECREF(node->value);
    PyObject_Free(node);
}

static PyTypeObject NodeType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "llm_core.adapters._memory_core._Node",
    .tp_basicsize = sizeof(Node),
    .tp_dealloc = (destructor)Node_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "One entry of a MemoryCore (internal).",
};

/* ------------------------------------------------------------------------------------- */
/* Core                                                                                   */

typedef struct {
    PyObject_HEAD
    PyObject *data;   /* dict: str -> Node */
    PyObject *clock;  /* NULL: native CLOCK_MONOTONIC */
    Node *head;       /* least recently used */
    Node *tail;       /* most recently used */
    Py_ssize_t max_entries; /* -1: unbounded */
    double sweep_interval;
    double next_sweep;
} Core;

static PyObject *time_monotonic = NULL;   /* time.monotonic, to recognise the default clock */
static PyObject *validation_module = NULL; /* llm_core.adapters.validation, imported lazily */

static int
call_validator(const char *name, PyObject *arg, PyObject **result)
{
    if (validation_module == NULL) {
        validation_module = PyImport_ImportModule("llm_core.adapters.validation");
        if (validation_module == NULL)
            return -1;
    }
    PyObject *fn = PyObject_GetAttrString(validation_module, name);
    if (fn == NULL)
        return -1;
    PyObject *out = PyObject_CallOneArg(fn, arg);
    Py_DECREF(fn);
    if (out == NULL)
        return -1;
    if (result != NULL)
        *result = out;
    else
        Py_DECREF(out);
    return 0;
}

static int
plain_valid_key(PyObject *key)
{
    if (!PyUnicode_CheckExact(key) || !PyUnicode_IS_ASCII(key))
        return 0;
    Py_ssize_t n = PyUnicode_GET_LENGTH(key);
    if (n == 0 || n > 256)
        return 0;
    const Py_UCS1 *s = PyUnicode_1BYTE_DATA(key);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (s[i] < 0x20 || s[i] == 0x7f)
            return 0;
    }
    return 1;
}

/* A new reference to the key as an exact, valid str; NULL with InvalidKeyError otherwise. */
static PyObject *
checked_key(PyObject *key)
{
    if (plain_valid_key(key)) {
        Py_INCREF(key);
        return key;
    }
    if (call_validator("check_key", key, NULL) < 0)
        return NULL;
    if (PyUnicode_CheckExact(key)) {
        Py_INCREF(key);
        return key;
    }
    return PyUnicode_FromObject(key); /* a valid str subclass: store a plain copy */
}

/* ttl -> seconds (INFINITY for None); -1 with InvalidTTLError for anything invalid. */
static int
checked_ttl(PyObject *ttl, double *seconds)
{
    if (ttl == NULL || ttl == Py_None) {
        *seconds = INFINITY;
        return 0;
    }
    double d = -1.0;
    if (PyFloat_CheckExact(ttl)) {
        d = PyFloat_AS_DOUBLE(ttl);
    }
    else if (PyLong_CheckExact(ttl)) {
        d = PyLong_AsDouble(ttl);
        if (d == -1.0 && PyErr_Occurred()) {
            PyErr_Clear();
            d = -1.0;
        }
    }
    if (d > 0.0 && d < INFINITY) {
        *seconds = d;
        return 0;
    }
    PyObject *ok = NULL;
    if (call_validator("check_ttl", ttl, &ok) < 0)
        return -1;
    d = PyFloat_AsDouble(ok);
    Py_DECREF(ok);
    if (d == -1.0 && PyErr_Occurred())
        return -1;
    *seconds = d;
    return 0;
}

/* A new reference to the value as exact bytes; NULL with TypeError otherwise. */
static PyObject *
checked_value(PyObject *value)
{
    if (PyBytes_CheckExact(value)) {
        Py_INCREF(value);
        return value;
    }
    if (call_validator("check_value", value, NULL) < 0)
        return NULL;
    return PyBytes_FromStringAndSize(PyBytes_AS_STRING(value), PyBytes_GET_SIZE(value));
}

static int
core_now(Core *self, double *now)
{
    if (self->clock == NULL) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        *now = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
        return 0;
    }
    PyObject *r = PyObject_CallNoArgs(self->clock);
    if (r == NULL)
        return -1;
    double v = PyFloat_AsDouble(r);
    Py_DECREF(r);
    if (v == -1.0 && PyErr_Occurred())
        return -1;
    *now = v;
    return 0;
}

static void
link_tail(Core *self, Node *node)
{
    node->prev = self->tail;
    node->next = NULL;
    if (self->tail != NULL)
        self->tail->next = node;
    else
        self->head = node;
    self->tail = node;
    node->linked = 1;
}

static void
unlink_node(Core *self, Node *node)
{
    if (node->prev != NULL)
        node->prev->next = node->next;
    else
        self->head = node->next;
    if (node->next != NULL)
        node->next->prev = node->prev;
    else
        self->tail = node->prev;
    node->prev = node->next = NULL;
    node->linked = 0;
}

static void
touch_lru(Core *self, Node *node)
{
    if (node->linked && self->tail != node) {
        unlink_node(self, node);
        link_tail(self, node);
    }
}

/* Unlink and drop from the dict.  The caller must hold its own reference if it still needs
 * the node afterwards. */
static int
remove_node(Core *self, Node *node)
{
    unlink_node(self, node);
    return PyDict_DelItem(self->data, node->key);
}

static Py_ssize_t
sweep_expired(Core *self, double now)
{
    Py_ssize_t dropped = 0;
    Node *node = self->head;
    while (node != NULL) {
        Node *next = node->next;
        if (node->deadline < now) {
            if (remove_node(self, node) < 0)
                return -1;
            dropped++;
        }
        node = next;
    }
    self->next_sweep = now + self->sweep_interval;
    return dropped;
}

/* --- methods -------------------------------------------------------------------------- */

/* The hit path once ``now`` is known: a live node is moved to the LRU tail and its value
 * returned; an expired one is dropped. */
static PyObject *
live_value(Core *self, Node *node, double now)
{
    if (node->deadline >= now) {
        touch_lru(self, node);
        Py_INCREF(node->value);
        return node->value;
    }
    if (remove_node(self, node) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *
Core_get(Core *self, PyObject *key)
{
    double now;
    PyObject *found = PyDict_GetItemWithError(self->data, key); /* borrowed */
    if (found == NULL) {
        if (PyErr_Occurred()) {
            if (!PyErr_ExceptionMatches(PyExc_TypeError))
                return NULL; /* raised by the key's own __hash__/__eq__: not ours to hide */
            PyErr_Clear();   /* unhashable: reported as an invalid key below */
        }
        if (!plain_valid_key(key) && call_validator("check_key", key, NULL) < 0)
            return NULL;
        Py_RETURN_NONE;
    }
    Node *node = (Node *)found;
    if (self->clock == NULL) {
        core_now(self, &now);
        return live_value(self, node, now);
    }
    /* A Python clock may let another thread change the cache meanwhile: hold the node. */
    Py_INCREF(node);
    PyObject *result = NULL;
    if (core_now(self, &now) == 0) {
        if (node->linked) {
            result = live_value(self, node, now);
        }
        else {
            result = Py_NewRef(Py_None); /* removed while the clock ran: a miss */
        }
    }
    Py_DECREF(node);
    return result;
}

static PyObject *
Core_set(Core *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *argv[3] = {NULL, NULL, NULL};
    static const char *const names[3] = {"key", "value", "ttl"};
    if (nargs > 3) {
        PyErr_Format(PyExc_TypeError, "set() takes at most 3 arguments (%zd given)", nargs);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < nargs; i++)
        argv[i] = args[i];
    if (kwnames != NULL) {
        Py_ssize_t nkw = PyTuple_GET_SIZE(kwnames);
        for (Py_ssize_t i = 0; i < nkw; i++) {
            PyObject *name = PyTuple_GET_ITEM(kwnames, i);
            int slot = -1;
            for (int j = 0; j < 3; j++) {
                if (PyUnicode_CompareWithASCIIString(name, names[j]) == 0)
                    slot = j;
            }
            if (slot < 0) {
                PyErr_Format(PyExc_TypeError, "set() got an unexpected keyword argument '%U'",
                             name);
                return NULL;
            }
            if (argv[slot] != NULL) {
                PyErr_Format(PyExc_TypeError, "set() got multiple values for argument '%s'",
                             names[slot]);
                return NULL;
            }
            argv[slot] = args[nargs + i];
        }
    }
    if (argv[0] == NULL || argv[1] == NULL) {
        PyErr_SetString(PyExc_TypeError, "set() missing required argument 'key' or 'value'");
        return NULL;
    }

    double ttl, now;
    PyObject *key = checked_key(argv[0]);
    if (key == NULL)
        return NULL;
    PyObject *value = checked_value(argv[1]);
    if (value == NULL) {
        Py_DECREF(key);
        return NULL;
    }
    if (checked_ttl(argv[2], &ttl) < 0 || core_now(self, &now) < 0) {
        Py_DECREF(key);
        Py_DECREF(value);
        return NULL;
    }
    /* From here on no Python code runs: the update is atomic under the GIL. */
    double deadline = (ttl == INFINITY) ? INFINITY : now + ttl;
    Node *node = (Node *)PyDict_GetItemWithError(self->data, key);
    if (node != NULL) {
        Py_SETREF(node->value, value);
        node->deadline = deadline;
        touch_lru(self, node);
        Py_DECREF(key);
    }
    else {
        if (PyErr_Occurred()) {
            Py_DECREF(key);
            Py_DECREF(value);
            return NULL;
        }
        node = PyObject_New(Node, &NodeType);
        if (node == NULL) {
            Py_DECREF(key);
            Py_DECREF(value);
            return NULL;
        }
        node->key = key;
        node->value = value;
        node->deadline = deadline;
        node->prev = node->next = NULL;
        node->linked = 0;
        if (PyDict_SetItem(self->data, key, (PyObject *)node) < 0) {
            Py_DECREF(node);
            return NULL;
        }
        Py_DECREF(node); /* the dict holds it */
        link_tail(self, node);
        if (self->max_entries >= 0 && PyDict_GET_SIZE(self->data) > self->max_entries) {
            if (remove_node(self, self->head) < 0)
                return NULL;
        }
    }
    if (now >= self->next_sweep && sweep_expired(self, now) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *
Core_delete(Core *self, PyObject *arg)
{
    PyObject *key = checked_key(arg);
    if (key == NULL)
        return NULL;
    Node *node = (Node *)PyDict_GetItemWithError(self->data, key);
    Py_DECREF(key);
    if (node == NULL) {
        if (PyErr_Occurred())
            return NULL;
        Py_RETURN_NONE;
    }
    if (remove_node(self, node) < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *
Core_take(Core *self, PyObject *arg)
{
    double now;
    PyObject *key = checked_key(arg);
    if (key == NULL)
        return NULL;
    if (core_now(self, &now) < 0) {
        Py_DECREF(key);
        return NULL;
    }
    Node *node = (Node *)PyDict_GetItemWithError(self->data, key);
    Py_DECREF(key);
    if (node == NULL) {
        if (PyErr_Occurred())
            return NULL;
        Py_RETURN_NONE;
    }
    Py_INCREF(node);
    if (remove_node(self, node) < 0) {
        Py_DECREF(node);
        return NULL;
    }
    PyObject *result = node->deadline >= now ? node->value : Py_None;
    Py_INCREF(result);
    Py_DECREF(node);
    return result;
}

static PyObject *
Core_touch(Core *self, PyObject *const *args, Py_ssize_t nargs)
{
    double ttl, now;
    if (nargs != 2) {
        PyErr_Format(PyExc_TypeError, "touch() takes exactly 2 arguments (%zd given)", nargs);
        return NULL;
    }
    PyObject *key = checked_key(args[0]);
    if (key == NULL)
        return NULL;
    if (checked_ttl(args[1], &ttl) < 0 || core_now(self, &now) < 0) {
        Py_DECREF(key);
        return NULL;
    }
    Node *node = (Node *)PyDict_GetItemWithError(self->data, key);
    Py_DECREF(key);
    if (node == NULL) {
        if (PyErr_Occurred())
            return NULL;
        Py_RETURN_FALSE;
    }
    if (node->deadline < now) {
        if (remove_node(self, node) < 0)
            return NULL;
        Py_RETURN_FALSE;
    }
    node->deadline = (ttl == INFINITY) ? INFINITY : now + ttl;
    touch_lru(self, node);
    Py_RETURN_TRUE;
}

static PyObject *
Core_sweep(Core *self, PyObject *Py_UNUSED(ignored))
{
    double now;
    if (core_now(self, &now) < 0)
        return NULL;
    Py_ssize_t dropped = sweep_expired(self, now);
    return dropped < 0 ? NULL : PyLong_FromSsize_t(dropped);
}

static PyObject *
Core_keys(Core *self, PyObject *const *args, Py_ssize_t nargs)
{
    double now;
    PyObject *prefix = nargs > 0 ? args[0] : NULL;
    if (nargs > 1) {
        PyErr_SetString(PyExc_TypeError, "keys() takes at most 1 argument");
        return NULL;
    }
    if (prefix != NULL && !PyUnicode_Check(prefix)) {
        PyErr_Format(PyExc_TypeError, "prefix must be str, got %s", Py_TYPE(prefix)->tp_name);
        return NULL;
    }
    if (core_now(self, &now) < 0)
        return NULL;
    PyObject *out = PyList_New(0);
    if (out == NULL)
        return NULL;
    for (Node *node = self->head; node != NULL; node = node->next) {
        if (node->deadline < now)
            continue;
        if (prefix != NULL) {
            Py_ssize_t match = PyUnicode_Tailmatch(node->key, prefix, 0, PY_SSIZE_T_MAX, -1);
            if (match < 0) {
                Py_DECREF(out);
                return NULL;
            }
            if (!match)
                continue;
        }
        if (PyList_Append(out, node->key) < 0) {
            Py_DECREF(out);
            return NULL;
        }
    }
    return out;
}

static void
drop_all(Core *self)
{
    while (self->head != NULL)
        unlink_node(self, self->head);
    PyDict_Clear(self->data);
}

static PyObject *
Core_clear(Core *self, PyObject *Py_UNUSED(ignored))
{
    drop_all(self);
    Py_RETURN_NONE;
}

static Py_ssize_t
Core_len(Core *self)
{
    return PyDict_GET_SIZE(self->data);
}

/* --- keyword call forms ------------------------------------------------------------------ */

/* Positional and keyword arguments -> argv[0..n) by name (NULL = not given); the first
 * `required` must be given.  Lets every method take the Cache protocol's parameter names. */
static int
unpack_args(const char *fname, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames,
            const char *const *names, int n, int required, PyObject **argv)
{
    if (nargs > n) {
        PyErr_Format(PyExc_TypeError, "%s() takes at most %d arguments (%zd given)", fname, n,
                     nargs);
        return -1;
    }
    for (int j = 0; j < n; j++)
        argv[j] = j < nargs ? args[j] : NULL;
    Py_ssize_t nkw = kwnames == NULL ? 0 : PyTuple_GET_SIZE(kwnames);
    for (Py_ssize_t i = 0; i < nkw; i++) {
        PyObject *name = PyTuple_GET_ITEM(kwnames, i);
        int slot = -1;
        for (int j = 0; j < n; j++) {
            if (PyUnicode_CompareWithASCIIString(name, names[j]) == 0)
                slot = j;
        }
        if (slot < 0) {
            PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument '%U'", fname,
                         name);
            return -1;
        }
        if (argv[slot] != NULL) {
            PyErr_Format(PyExc_TypeError, "%s() got multiple values for argument '%s'", fname,
                         names[slot]);
            return -1;
        }
        argv[slot] = args[nargs + i];
    }
    for (int j = 0; j < required; j++) {
        if (argv[j] == NULL) {
            PyErr_Format(PyExc_TypeError, "%s() missing required argument '%s'", fname,
                         names[j]);
            return -1;
        }
    }
    return 0;
}

static const char *const key_names[2] = {"key", "ttl"};
static const char *const prefix_names[1] = {"prefix"};

#define KEY_METHOD(NAME, IMPL, FNAME)                                                          \
    static PyObject *NAME(Core *self, PyObject *const *args, Py_ssize_t nargs,                 \
                          PyObject *kwnames)                                                   \
    {                                                                                          \
        PyObject *argv[1];                                                                     \
        if (kwnames == NULL && nargs == 1)                                                     \
            return IMPL(self, args[0]);                                                        \
        if (unpack_args(FNAME, args, nargs, kwnames, key_names, 1, 1, argv) < 0)               \
            return NULL;                                                                       \
        return IMPL(self, argv[0]);                                                            \
    }

KEY_METHOD(Core_get_kw, Core_get, "get")
KEY_METHOD(Core_take_kw, Core_take, "take")
KEY_METHOD(Core_delete_kw, Core_delete, "delete")

static PyObject *
Core_touch_kw(Core *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *argv[2];
    if (kwnames == NULL)
        return Core_touch(self, args, nargs);
    if (unpack_args("touch", args, nargs, kwnames, key_names, 2, 2, argv) < 0)
        return NULL;
    return Core_touch(self, argv, 2);
}

static PyObject *
Core_keys_kw(Core *self, PyObject *const *args, Py_ssize_t nargs, PyObject *kwnames)
{
    PyObject *argv[1];
    if (kwnames == NULL)
        return Core_keys(self, args, nargs);
    if (unpack_args("keys", args, nargs, kwnames, prefix_names, 1, 0, argv) < 0)
        return NULL;
    return Core_keys(self, argv, argv[0] == NULL ? 0 : 1);
}

/* --- life cycle ----------------------------------------------------------------------- */

static int
Core_init(Core *self, PyObject *args, PyObject *kwds)
{
    static char *kwlist[] = {"max_entries", "sweep_interval", "clock", NULL};
    PyObject *max_entries = Py_None, *clock = NULL;
    double sweep_interval = 60.0;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "|OdO:MemoryCore", kwlist, &max_entries,
                                     &sweep_interval, &clock))
        return -1;
    if (max_entries == Py_None) {
        self->max_entries = -1;
    }
    else {
        self->max_entries = PyLong_AsSsize_t(max_entries);
        if (self->max_entries == -1 && PyErr_Occurred())
            return -1;
        if (self->max_entries < 1) {
            PyErr_SetString(PyExc_ValueError, "max_entries must be a positive int or None");
            return -1;
        }
    }
    if (clock != NULL && clock != time_monotonic && !PyCallable_Check(clock)) {
        PyErr_SetString(PyExc_TypeError, "clock must be callable");
        return -1;
    }
    Py_XSETREF(self->clock, (clock == NULL || clock == time_monotonic) ? NULL : Py_NewRef(clock));
    drop_all(self);
    self->sweep_interval = sweep_interval;
    double now;
    if (core_now(self, &now) < 0)
        return -1;
    self->next_sweep = now + sweep_interval;
    return 0;
}

static int
Core_traverse(Core *self, visitproc visit, void *arg)
{
    Py_VISIT(self->data);
    Py_VISIT(self->clock);
    return 0;
}

static int
Core_tp_clear(Core *self)
{
    self->head = self->tail = NULL;
    Py_CLEAR(self->data);
    Py_CLEAR(self->clock);
    return 0;
}

static void
Core_dealloc(Core *self)
{
    /* A static type: a heap subclass's subtype_dealloc releases the subclass itself. */
    PyObject_GC_UnTrack(self);
    Core_tp_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
Core_new(PyTypeObject *type, PyObject *args, PyObject *kwds)
{
    Core *self = (Core *)type->tp_alloc(type, 0);
    if (self == NULL)
        return NULL;
    self->data = PyDict_New();
    if (self->data == NULL) {
        Py_DECREF(self);
        return NULL;
    }
    self->clock = NULL;
    self->head = self->tail = NULL;
    self->max_entries = -1;
    self->sweep_interval = 60.0;
    self->next_sweep = INFINITY;
    return (PyObject *)self;
}

static PyMethodDef Core_methods[] = {
    {"get", (PyCFunction)(void (*)(void))Core_get_kw, METH_FASTCALL | METH_KEYWORDS,
     "The live value at key, or None."},
    {"set", (PyCFunction)(void (*)(void))Core_set, METH_FASTCALL | METH_KEYWORDS,
     "Store value at key for ttl seconds (None = no expiry)."},
    {"delete", (PyCFunction)(void (*)(void))Core_delete_kw, METH_FASTCALL | METH_KEYWORDS,
     "Remove key if present."},
    {"take", (PyCFunction)(void (*)(void))Core_take_kw, METH_FASTCALL | METH_KEYWORDS,
     "Atomically remove and return the live value."},
    {"touch", (PyCFunction)(void (*)(void))Core_touch_kw, METH_FASTCALL | METH_KEYWORDS,
     "Restart a live entry's TTL from now; False if absent or expired."},
    {"sweep", (PyCFunction)Core_sweep, METH_NOARGS, "Drop every expired entry; return how many."},
    {"keys", (PyCFunction)(void (*)(void))Core_keys_kw, METH_FASTCALL | METH_KEYWORDS,
     "Live keys starting with prefix, least recently used first."},
    {"clear", (PyCFunction)Core_clear, METH_NOARGS, "Remove every entry."},
    {NULL, NULL, 0, NULL},
};

static PySequenceMethods Core_as_sequence = {
    .sq_length = (lenfunc)Core_len,
};

static PyTypeObject CoreType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "llm_core.adapters._memory_core.MemoryCore",
    .tp_basicsize = sizeof(Core),
    .tp_dealloc = (destructor)Core_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC,
    .tp_doc = "The C core of MemoryCache: TTL entries, LRU bound, periodic sweep.",
    .tp_traverse = (traverseproc)Core_traverse,
    .tp_clear = (inquiry)Core_tp_clear,
    .tp_methods = Core_methods,
    .tp_as_sequence = &Core_as_sequence,
    .tp_init = (initproc)Core_init,
    .tp_new = Core_new,
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "llm_core.adapters._memory_core",
    .m_doc = "The C core of llm_core's MemoryCache (optional accelerator).",
    .m_size = -1,
};

PyMODINIT_FUNC
PyInit__memory_core(void)
{
    if (PyType_Ready(&NodeType) < 0 || PyType_Ready(&CoreType) < 0)
        return NULL;
    PyObject *time_module = PyImport_ImportModule("time");
    if (time_module == NULL)
        return NULL;
    time_monotonic = PyObject_GetAttrString(time_module, "monotonic");
    Py_DECREF(time_module);
    if (time_monotonic == NULL)
        return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL)
        return NULL;
    if (PyModule_AddObjectRef(m, "MemoryCore", (PyObject *)&CoreType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
