/** Implementation of the gateway contract; not API, may change without notice. */
package io.eventpipe.gateway.impl;
