/* A CPython extension module that calls edgegeo through the C API (as a camera driver's own
 * Python binding would): depth(rgb_bytes, height, width) -> float32 bytes of the disparity.
 *
 *   cc -shared -fPIC pyext_depth.c $(python3-config --includes) \
 *      $(edgegeo capi --cflags) $(edgegeo capi --libs) -o pyext_depth$(python3-config --extension-suffix)
 *   python -c "import pyext_depth; pyext_depth.depth(rgb.tobytes(), h, w)"
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <edgegeo.h>

static eg_model *model;

static PyObject *depth(PyObject *self, PyObject *args) {
    Py_buffer rgb;
    int height, width;
    if (!PyArg_ParseTuple(args, "y*ii", &rgb, &height, &width)) return NULL;
    if (!model && !(model = eg_model_load("mono-depth", "torch", NULL))) {
        PyBuffer_Release(&rgb);
        return PyErr_Format(PyExc_ValueError, "%s", eg_last_error());
    }
    PyObject *out = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)height * width * 4);
    int failed = !out || rgb.len < (Py_ssize_t)height * width * 3 ||
        eg_depth(model, rgb.buf, height, width, 3 * width, (float *)PyBytes_AS_STRING(out));
    PyBuffer_Release(&rgb);
    if (failed) {
        Py_XDECREF(out);
        return PyErr_Format(PyExc_ValueError, "%s", eg_last_error() ? eg_last_error() : "short buffer");
    }
    return out;
}

static PyMethodDef methods[] = {{"depth", depth, METH_VARARGS, "mono-depth disparity"}, {0}};
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "pyext_depth", NULL, -1, methods};
PyMODINIT_FUNC PyInit_pyext_depth(void) { return PyModule_Create(&module); }
